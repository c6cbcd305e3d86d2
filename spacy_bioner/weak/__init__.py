"""spacy_bioner.weak"""
