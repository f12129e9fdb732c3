"""The sources audframe loads, one subpackage each."""
