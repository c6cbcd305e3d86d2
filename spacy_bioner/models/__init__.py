"""spacy_bioner.models"""
