"""Theme keywords (c-TF-IDF), labels and examples on small hand-written reports."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from riskradar.theme_labels import (
    NOISE,
    UNLABELLED,
    class_tfidf_keywords,
    label_from_keywords,
    label_themes,
    min_df_for,
    nearest_examples,
)
from riskradar.themes import normalize_rows

STOLEN_CARDS = [
    "My card was stolen and someone paid with it, call me on [PHONE]",
    "Card stolen yesterday, there are payments I did not make",
    "I think my card has been stolen, 3 payments of 49.99 at a shop I never visited",
    "stolen card used abroad, my bank is [IBAN], write to [EMAIL]",
    "Someone stole my wallet and my card, please block the card [CARD]",
]
PARCELS = [
    "My parcel never arrived and the seller stopped answering",
    "Paid 120 for a parcel that never arrived, seller says it was shipped",
    "The parcel hasn't arrived after 3 weeks, tracking number is fake",
    "seller never shipped my parcel, tracking shows nothing, contact [EMAIL]",
]
# Words of both themes ("paid", "seller", "payments") and of neither.
NOISE_REPORTS = ["I want my money back", "Who do I talk to about my account from [IP]?"]
PLACEHOLDER_WORDS = {"email", "phone", "iban", "ip", "ssn"}
NEGATIONS = {"no", "not", "never", "cannot", "without"}
# scikit-learn stop words that carry meaning in reports ("top" as in top-up).
MEANINGFUL = {"top", "bill", "call", "amount", "interest"}


def words(keywords: tuple[tuple[str, float], ...]) -> set[str]:
    return {word for term, _ in keywords for word in term.split()}


def test_c_tf_idf_picks_the_words_that_tell_the_themes_apart() -> None:
    cards, parcels = class_tfidf_keywords([STOLEN_CARDS, PARCELS], top_k=5, background=NOISE_REPORTS)
    assert {"card", "stolen"} <= {term for term, _ in cards[:3]}
    assert {"parcel", "arrived"} <= words(parcels[:3])
    assert not words(cards) & {"parcel", "arrived", "seller"}
    assert not words(parcels) & {"card", "stolen"}
    # Best first, with positive weights.
    assert [weight for _, weight in cards] == sorted((weight for _, weight in cards), reverse=True)
    assert all(weight > 0 for _, weight in cards + parcels)


def test_placeholders_numbers_and_stop_words_are_never_keywords() -> None:
    keywords = class_tfidf_keywords([STOLEN_CARDS, PARCELS, NOISE_REPORTS], top_k=200)
    every_word = set().union(*map(words, keywords))
    assert not every_word & PLACEHOLDER_WORDS
    assert not any(any(char.isdigit() for char in word) for word in every_word)
    assert not every_word & (ENGLISH_STOP_WORDS - NEGATIONS - MEANINGFUL)
    # Negations only inside a bigram ("never arrived"), never alone.
    assert not {term for k in keywords for term, _ in k} & NEGATIONS
    assert "never arrived" in {term for term, _ in keywords[1]}


def test_negations_in_any_spelling_lead_a_bigram_and_never_trail_one() -> None:
    parcels = [
        "my parcel didnt arrive",
        "parcel hasn\u2019t arrived",
        "parcel did not arrive",
        "parcel can't arrive",
    ]
    [keywords] = class_tfidf_keywords([parcels], top_k=20)
    terms = {term for term, _ in keywords}
    assert {"not arrive", "not arrived", "cannot arrive"} <= terms
    assert not {term for term in terms if term.split()[-1] in NEGATIONS}


def test_a_word_only_redacted_away_does_not_count() -> None:
    """[CARD] is a redacted card number, not the reporter writing "card"."""
    about_cards = ["please block [CARD] now", "charge on [CARD] again", "refund to [CARD] please"]
    [keywords] = class_tfidf_keywords([about_cards], top_k=20)
    assert "card" not in words(keywords)


def test_keywords_are_deterministic_and_ties_go_alphabetically() -> None:
    first = class_tfidf_keywords([["zebra apple"], ["mango kiwi"]], top_k=3)
    assert first == class_tfidf_keywords([["zebra apple"], ["mango kiwi"]], top_k=3)
    assert [term for term, _ in first[0]] == ["apple", "zebra", "zebra apple"]


def test_classes_with_no_usable_words_get_no_keywords() -> None:
    assert class_tfidf_keywords([["the and of", "[EMAIL] 123"]]) == [()]
    assert class_tfidf_keywords([[], STOLEN_CARDS])[0] == ()
    assert class_tfidf_keywords([]) == []


@pytest.mark.parametrize(("reports", "min_df"), [(10, 1), (1_499, 1), (1_500, 2), (10_000, 5), (100_000, 5)])
def test_min_df_grows_with_the_number_of_reports(reports: int, min_df: int) -> None:
    assert min_df_for(reports) == min_df


# ---------------------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("keywords", "label"),
    [
        (["card", "stolen", "card stolen", "abroad"], "card stolen, abroad"),
        (["arrived", "parcel", "never arrived", "seller"], "never arrived, parcel, seller"),
        (["refund", "refund", "late"], "refund, late"),
        (["a b", "c d", "e f", "g"], "a b, c d, g"),  # five words at most
        (["one", "two", "three", "four"], "one, two, three"),
        ([], UNLABELLED),
    ],
)
def test_a_label_is_two_or_three_keywords_without_repeats(keywords: list[str], label: str) -> None:
    assert label_from_keywords(keywords) == label


# -------------------------------------------------------------------------------------- examples


def test_examples_are_the_texts_nearest_the_centroid_each_once() -> None:
    vectors = normalize_rows([[1, 0], [0.9, 0.1], [0.2, 1], [1, 0.01], [0.6, 0.4]])
    texts = ["exact", "close", "far", "Exact ", "middle"]
    assert nearest_examples(vectors, texts, np.array([1, 0], np.float32)) == ("exact", "close", "middle")
    assert nearest_examples(vectors, texts, np.array([0, 1], np.float32), count=1) == ("far",)


def test_long_examples_are_cut() -> None:
    [example] = nearest_examples(normalize_rows([[1, 0]]), ["word " * 200], np.array([1, 0], np.float32))
    assert len(example) == 280
    assert example.endswith("…")


# ------------------------------------------------------------------------------------ the lot


def test_label_themes_labels_every_cluster_from_its_own_reports() -> None:
    texts = STOLEN_CARDS + PARCELS + NOISE_REPORTS
    clusters = [0] * len(STOLEN_CARDS) + [1] * len(PARCELS) + [NOISE] * len(NOISE_REPORTS)
    rng = np.random.default_rng(0)
    centroids = normalize_rows([[1, 0, 0], [0, 1, 0]])
    vectors = normalize_rows(
        np.array([centroids[c] if c != NOISE else [0, 0, 1] for c in clusters])
        + 0.1 * rng.random((len(texts), 3)).astype(np.float32)
    )
    vectors[2] = centroids[0]  # the one report right on the cards centroid

    cards, parcels = label_themes(texts, vectors, clusters, centroids)

    assert "card" in cards.label
    assert "stolen" in cards.label
    assert "parcel" in parcels.label
    assert cards.examples[0] == STOLEN_CARDS[2]
    assert set(cards.examples) <= set(STOLEN_CARDS)
    assert len(cards.examples) == 3
    assert set(parcels.examples) <= set(PARCELS)
    assert cards.terms == tuple(term for term, _ in cards.keywords)


def test_a_young_theme_keeps_the_words_only_it_uses_in_a_large_window() -> None:
    """4 reports in a window of 5,000, where a term needs 5 reports: a theme smaller than that
    keeps words found in each of its reports, instead of being labelled with another theme's."""
    old = [
        "my card payment was declined at the shop",
        "refund still not received for my order",
        "transfer pending for three days",
        "atm kept my card",
    ]
    new = [
        "crypto wallet drained after fake airdrop link",
        "fake airdrop drained my crypto wallet",
        "airdrop scam drained wallet",
        "crypto wallet drained by airdrop phishing site, my card fine",
    ]
    assert min_df_for(5000) == 5
    keywords = class_tfidf_keywords([[old[i] for _ in range(1249)] for i in range(4)] + [new])
    young = [term for term, _ in keywords[4]]
    assert {"airdrop", "drained", "wallet"} <= set(young[:4])
    assert "phishing" not in young  # in one of its four reports only
    assert all("airdrop" not in term for theme in keywords[:4] for term, _ in theme)


def test_words_with_vowel_signs_stay_whole() -> None:
    """Hindi writes vowels as combining signs, which Python's \\w leaves out: "कार्ड चोरी" (card
    theft) must be keywords, not fragments of them."""
    keywords = class_tfidf_keywords(
        [["मेरा कार्ड चोरी हो गया", "कार्ड चोरी", "चोरी कार्ड"], ["parcel never arrived", "parcel lost"]]
    )
    assert {"कार्ड", "चोरी"} <= {term for term, _ in keywords[0]}
    assert label_from_keywords([term for term, _ in keywords[0]]).startswith(("कार्ड", "चोरी"))


def test_label_themes_refuses_misaligned_inputs() -> None:
    vectors = normalize_rows([[1, 0]])
    with pytest.raises(ValueError, match="1 texts, 1 vectors and 2 cluster labels"):
        label_themes(["a"], vectors, [0, 0], vectors)
    with pytest.raises(ValueError, match="cluster labels must be"):
        label_themes(["a"], vectors, [3], vectors)
