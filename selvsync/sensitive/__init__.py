"""sensitive"""
