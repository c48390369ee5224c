"""The built-in CPU models: a word bigram (Markov) text generator and hashed bag-of-words embeddings.

Both are real models in the small: the generator is trained at start-up on `corpus.txt` and samples
each next word from the learned bigram counts with a PRNG seeded by the prompt (so the same request
gives the same answer); the embedder hashes words and word pairs into a fixed-size signed vector and
L2-normalises it, so texts sharing words have a high cosine similarity.
"""

import hashlib
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).with_name("corpus.txt")
TOKEN_RE = re.compile(r"[A-Za-z0-9']+|[^\sA-Za-z0-9']")
SENTENCE_END = frozenset({".", "!", "?"})
START = "<s>"


def tokenize(text: str) -> list[str]:
    return TOKEN_RE.findall(text)


def detokenize_piece(previous: str | None, token: str) -> str:
    """The text a token adds after `previous` (punctuation attaches to the word before it)."""
    if previous is None or not token[0].isalnum():
        return token if previous is None or token in ",.;:!?)" else " " + token
    return " " + token


@dataclass
class Generated:
    tokens: list[str]
    finish_reason: str


class BigramModel:
    def __init__(self, text: str) -> None:
        self.next_counts: dict[str, Counter[str]] = defaultdict(Counter)
        previous = START
        for token in tokenize(text):
            word = token.lower()
            self.next_counts[previous][word] += 1
            previous = START if word in SENTENCE_END else word
        self._tables = {word: (list(c.keys()), list(c.values())) for word, c in self.next_counts.items()}

    @classmethod
    def from_corpus(cls, path: Path = CORPUS) -> "BigramModel":
        return cls(path.read_text(encoding="utf-8"))

    @property
    def vocabulary_size(self) -> int:
        return len({w for c in self.next_counts.values() for w in c})

    def _next(self, word: str, rng: random.Random, temperature: float) -> str:
        words, counts = self._tables.get(word) or self._tables[START]
        if temperature <= 0:
            return max(zip(counts, words, strict=True), key=lambda pair: (pair[0], pair[1]))[1]
        weights = [count ** (1.0 / temperature) for count in counts]
        return rng.choices(words, weights=weights)[0]

    def generate(self, prompt: str, *, max_tokens: int, temperature: float = 1.0,
                 seed: int | None = None) -> Iterator[str]:
        """Yield up to `max_tokens` tokens continuing from the last known word of the prompt."""
        digest = hashlib.sha256(f"{seed}|{prompt}".encode()).digest()
        rng = random.Random(int.from_bytes(digest[:8], "big"))
        known = [t.lower() for t in tokenize(prompt) if t.lower() in self._tables]
        word = known[-1] if known and known[-1] not in SENTENCE_END else START
        for _ in range(max_tokens):
            word = self._next(word, rng, temperature)
            yield word
            if word in SENTENCE_END:
                word = START

    def complete(self, prompt: str, *, max_tokens: int, temperature: float = 1.0,
                 seed: int | None = None, stop_after_sentences: int = 2) -> Generated:
        tokens: list[str] = []
        sentences = 0
        for token in self.generate(prompt, max_tokens=max_tokens, temperature=temperature, seed=seed):
            tokens.append(token)
            sentences += token in SENTENCE_END
            if sentences >= stop_after_sentences:
                return Generated(tokens, "stop")
        return Generated(tokens, "length")


def render_tokens(tokens: list[str], *, capitalise: bool = True) -> Iterator[str]:
    """Text pieces for tokens, sentence-cased; one piece per token (what a stream sends)."""
    previous: str | None = None
    for token in tokens:
        text = token
        if capitalise and (previous is None or previous in SENTENCE_END):
            text = token[:1].upper() + token[1:]
        yield detokenize_piece(previous, text)
        previous = token


class HashedEmbedder:
    def __init__(self, dimensions: int = 256) -> None:
        self.dimensions = dimensions

    def _slot(self, feature: str) -> tuple[int, float]:
        value = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        return value % self.dimensions, (1.0 if (value >> 32) & 1 else -1.0)

    def embed(self, text: str) -> list[float]:
        words = [t.lower() for t in tokenize(text) if t[0].isalnum()]
        vector = [0.0] * self.dimensions
        for feature in words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]:
            index, sign = self._slot(feature)
            vector[index] += sign
        norm = math.sqrt(sum(v * v for v in vector))
        return [v / norm for v in vector] if norm else vector
