"""spacy_bioner.pipeline"""
