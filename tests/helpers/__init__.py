"""Helpers the test modules share (not tests themselves): no test module imports another."""
