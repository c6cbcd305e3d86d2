"""The three annotated sentences that the tiny pipelines of the tests are trained on."""

TRAIN_DATA = [
    ("Cisplatin induced nephrotoxicity in rats treated with lithium .",
     [(0, 9, "Chemical"), (18, 32, "Disease"), (54, 61, "Chemical")]),
    ("Naloxone reverses the hypotension caused by clonidine .",
     [(0, 8, "Chemical"), (22, 33, "Disease"), (44, 53, "Chemical")]),
    ("Acute renal failure after high dose methotrexate ; no ß-blocker involved .",
     [(0, 19, "Disease"), (36, 48, "Chemical"), (54, 63, "Chemical")]),
]  # fmt: skip
#: The first two sentences, for the tests that need the least training.
TWO_SENTENCES = TRAIN_DATA[:2]
