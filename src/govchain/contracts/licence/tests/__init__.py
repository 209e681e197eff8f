"""Tests of the e-licence contract, its model and its faces."""
