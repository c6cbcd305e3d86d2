"""spacy_bioner.evaluation"""
