"""citycat"""
