"""What users run rather than call: the command line, the demo and its report, ``describe``."""
