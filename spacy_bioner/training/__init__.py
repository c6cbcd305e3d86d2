"""spacy_bioner.training"""
