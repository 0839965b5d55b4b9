"""What each table of the paper holds, and how its rows are counted or measured."""
