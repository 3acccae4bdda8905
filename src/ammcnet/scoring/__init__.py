"""ammcnet.scoring"""
