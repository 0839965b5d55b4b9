"""The command line: one module per command, each with ``make_parser()`` and ``main(argv)``.

Commands parse and check their options (argparse), show progress bars, and write into
``results/``; everything else happens below them. One error style everywhere: a bad option, or
bad input found while checking the options, is argparse's error (usage, one line, exit status
2); bad input found later is one clear line and exit status 2 (:func:`errors.fail`). A user's
mistake never ends in a traceback.
"""
