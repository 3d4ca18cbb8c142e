"""The pure billing domain: no boto3, no clock, no I/O. Time is always passed in."""
