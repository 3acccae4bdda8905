"""ammcnet.data"""
