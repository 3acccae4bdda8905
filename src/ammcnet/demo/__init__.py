"""ammcnet.demo"""
