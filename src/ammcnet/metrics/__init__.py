"""ammcnet.metrics"""
