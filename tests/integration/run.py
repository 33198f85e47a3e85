#!/usr/bin/python3
"""Runs the integration tests and prints 'integration: N passed, N failed'.
A skipped test is counted as skipped, never as passed."""
import os
import sys
import unittest

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
patterns = sys.argv[1:] or ['test_*.py']
suite = unittest.TestSuite(unittest.defaultTestLoader.discover(here, pattern=p) for p in patterns)
result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
skipped = len(result.skipped)
passed = result.testsRun - failed - skipped
print('integration: %d passed, %d failed, %d skipped' % (passed, failed, skipped))
sys.exit(1 if failed or result.testsRun == 0 else 0)
