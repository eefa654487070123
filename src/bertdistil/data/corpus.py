"""Corpus → token-id memmap, and length-grouped batches over it.

Layout of a prepared corpus (a folder, written atomically, reused while its key matches):
  ids.bin      flat token ids of every sequence, ``[CLS] ... [SEP]``, dtype uint16 (uint32 if the
               vocabulary has more than 65,536 entries), read as a numpy memmap (as nanoGPT does)
  offsets.npy  int64 (n_sequences + 1,): sequence i is ids[offsets[i]:offsets[i+1]]
  counts.npy   int64 (vocab_size,): token counts, used by mlm_smoothing
  meta.json    source files, tokenizer, max_seq_len, totals
A *document* is a blank-line-separated block of a file; consecutive documents of one file are
packed greedily into sequences of at most ``max_seq_len`` tokens, so sequences never cross files.
``part`` = "train" / "heldout" keeps the documents on one side of the held-out split (sources.is_heldout):
training never sees a held-out document.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import BertdistilError
from ..lock import entry_lock
from .documents import documents, expand_corpus, split_documents, tokenized_chunks, tokenizer_parallelism


def _fingerprint(files: list[Path], tokenizer, max_seq_len: int, extra: str) -> str:
    h = hashlib.sha256()
    for f in files:
        for g in (sorted(x for x in f.rglob("*") if x.is_file()) if f.is_dir() else [f]):
            st = g.stat()
            h.update(f"{g.resolve()}|{st.st_size}|{int(st.st_mtime)}".encode())
    vocab = json.dumps(sorted(tokenizer.get_vocab().items())).encode()
    h.update(hashlib.sha256(vocab).digest())
    h.update(f"{type(tokenizer).__name__}|{max_seq_len}|{extra}".encode())
    return h.hexdigest()[:16]


def token_dtype(vocab_size: int, requested: str = "auto") -> np.dtype:
    """uint16 when every id fits (vocab ≤ 65,536), else uint32. BertdistilError if uint16 is forced but too small."""
    if requested == "uint16" and vocab_size > 65536:
        raise BertdistilError(f"vocabulary of {vocab_size} tokens does not fit token_dtype uint16: "
                              "use --set token_dtype=uint32 (or auto)")
    if requested == "uint32" or vocab_size > 65536:
        return np.dtype(np.uint32)
    return np.dtype(np.uint16)


class TokenDataset:
    """Read-only view of a prepared corpus folder: sequence i → int64 array of token ids."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.meta = json.loads((self.folder / "meta.json").read_text())
        self.offsets = np.load(self.folder / "offsets.npy")
        self.counts = np.load(self.folder / "counts.npy")
        self.ids = np.memmap(self.folder / "ids.bin", dtype=self.meta["dtype"], mode="r")
        self.lengths = np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, i: int) -> np.ndarray:
        return np.asarray(self.ids[self.offsets[i]:self.offsets[i + 1]], dtype=np.int64)

    @property
    def n_tokens(self) -> int:
        return int(self.offsets[-1])


class _SequenceWriter:
    """Packs documents' token ids greedily into ``[CLS] … [SEP]`` sequences of at most ``max_seq_len`` ids (a
    longer document is cut; sequences never cross files) and streams them to ids.bin / lengths.bin, counting
    tokens, so memory holds one chunk only."""

    def __init__(self, folder: Path, dtype: np.dtype, vocab_size: int, cls_id: int, sep_id: int, max_seq_len: int):
        self.ids, self.lens = open(folder / "ids.bin", "wb"), open(folder / "lengths.bin", "wb")  # noqa: SIM115
        self.dtype, self.cls_id, self.sep_id, self.body = dtype, cls_id, sep_id, max_seq_len - 2
        self.counts = np.zeros(vocab_size, dtype=np.int64)
        self.pending: list[list[int]] = []
        self.current: list[int] = []
        self.n_seq = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.ids.close()
        self.lens.close()

    def _flush(self, tokens: list[int]) -> None:
        self.pending.append([self.cls_id, *tokens, self.sep_id])
        self.n_seq += 1

    def add(self, docs_ids: list[list[int]]) -> None:
        """Pack one chunk of documents (token ids without special tokens) and write the finished sequences."""
        for ids in docs_ids:
            if self.current and len(self.current) + len(ids) > self.body:
                self._flush(self.current)
                self.current = []
            start = 0                       # an offset, not re-slicing: linear in the document's length
            while len(ids) - start > self.body:
                self._flush(ids[start:start + self.body])
                start += self.body
            self.current.extend(ids[start:])
        self._drain()

    def end_file(self) -> None:
        """Close the sequence being packed: the next file starts a new one."""
        if self.current:
            self._flush(self.current)
            self.current = []
        self._drain()

    def _drain(self) -> None:
        if self.pending:
            flat = np.fromiter((t for seq in self.pending for t in seq), dtype=self.dtype)
            self.ids.write(flat.tobytes())
            self.lens.write(np.asarray([len(q) for q in self.pending], dtype=np.uint32).tobytes())
            self.counts += np.bincount(flat, minlength=len(self.counts))[:len(self.counts)]
            self.pending.clear()


@dataclass(frozen=True)
class CorpusSpec:
    """Which text of the corpus files becomes sequences, and how it is stored.

    ``wikitext``: the files are WikiText (headings split articles). ``token_dtype``: "auto" (uint16 when the
    vocabulary fits), "uint16" or "uint32". ``max_sequences`` > 0 keeps only the first that many sequences
    (smoke runs). ``part`` "train" / "heldout" keeps the documents on that side of the held-out split
    (1 in ``heldout_every``, sources.is_heldout); "all" keeps every document."""
    wikitext: bool = False
    token_dtype: str = "auto"
    max_sequences: int = 0
    part: str = "all"
    heldout_every: int = 0


def prepare_corpus(patterns: list[str], tokenizer, max_seq_len: int, cache: Path, spec: CorpusSpec | None = None,
                   *, desc: str = "tokenize", progress: bool = True) -> TokenDataset:
    """Tokenize text files once into a memmap folder under ``cache/corpus/<key>`` and open it.

    Every sequence is ``[CLS] tokens [SEP]`` with at most ``max_seq_len`` ids; ``spec`` (CorpusSpec, default
    every document) says which documents are kept and the token dtype. Raises BertdistilError for missing,
    binary or empty input, or a vocabulary that does not fit the token dtype.
    """
    spec = spec or CorpusSpec()
    files = expand_corpus(patterns)
    dtype = token_dtype(len(tokenizer), spec.token_dtype)
    split = "" if spec.part == "all" else f"|{spec.part}/{spec.heldout_every}"
    key = _fingerprint(files, tokenizer, max_seq_len, f"{spec.wikitext}|{dtype}|{spec.max_sequences}{split}")
    folder = cache / "corpus" / key
    if (folder / "meta.json").is_file():
        return TokenDataset(folder)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if cls_id is None or sep_id is None:
        raise BertdistilError(f"tokenizer {tokenizer.name_or_path} has no [CLS]/[SEP] (cls/sep) tokens: "
                              "use a BERT-family tokenizer")
    with entry_lock(folder, "this corpus"):        # a second process waits, then reuses the result
        if not (folder / "meta.json").is_file():
            _write_corpus(files, tokenizer, folder, dtype, max_seq_len, spec, desc, progress)
    return TokenDataset(folder)


def _counted(docs, seen: list[int]):
    """``docs`` unchanged, counting them in ``seen[0]`` (before the held-out split filters them)."""
    for doc in docs:
        seen[0] += 1
        yield doc


def _no_text(files: list[Path], n_docs: int, part: str, every: int) -> str:
    """The one-line reason a prepared corpus came out empty: no text at all, or every document on the other
    side of the held-out split."""
    names = ", ".join(map(str, files))
    if n_docs and part == "train":
        return (f"{names}: all its {n_docs} document(s) fell in the held-out split (eval.heldout_every={every}): "
                "pass more documents or --set eval.heldout_every=0")
    if n_docs and part == "heldout":
        return (f"{names}: none of its {n_docs} document(s) fell in the held-out split (1 in {every}) that masked-LM "
                "evaluation reads: pass more documents, a data root with wikitext/ (--data-dir), or --set "
                "eval.corpus=FILE")
    return f"corpus {names} contains no text: pass a non-empty UTF-8 text file"


def _write_corpus(files: list[Path], tokenizer, folder: Path, dtype: np.dtype, max_seq_len: int, spec: CorpusSpec,
                  desc: str, progress: bool) -> None:
    """Tokenise and pack ``files`` into the prepared-corpus folder ``folder`` (built beside it, then renamed)."""
    max_sequences, part, heldout_every = spec.max_sequences, spec.part, spec.heldout_every
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    n_docs, n_bytes, seen = 0, 0, [0]
    t0 = time.perf_counter()
    try:
        with _SequenceWriter(tmp, dtype, len(tokenizer), cls_id, sep_id, max_seq_len) as writer:
            for path in files:
                docs = split_documents(_counted(documents(path, spec.wikitext), seen), part, heldout_every)
                bar = tqdm(desc=f"{desc} {path.name}", unit=" docs", leave=False, disable=not progress)
                with tokenizer_parallelism(), contextlib.closing(tokenized_chunks(docs, tokenizer)) as chunks:
                    for chunk, chunk_ids in chunks:
                        if max_sequences > 0 and writer.n_seq >= max_sequences:
                            break
                        n_docs += len(chunk)
                        n_bytes += sum(len(d.encode()) for d in chunk)
                        bar.update(len(chunk))
                        writer.add(chunk_ids)
                bar.close()
                writer.end_file()
        if writer.n_seq == 0:
            raise BertdistilError(_no_text(files, seen[0], part, heldout_every))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    try:                                     # the index files and the rename: a failure leaves no tmp folder
        n_seq, counts = writer.n_seq, writer.counts
        offsets_arr = np.zeros(n_seq + 1, dtype=np.int64)
        np.cumsum(np.fromfile(tmp / "lengths.bin", dtype=np.uint32), out=offsets_arr[1:])
        (tmp / "lengths.bin").unlink()
        if max_sequences > 0:
            offsets_arr = offsets_arr[:max_sequences + 1]
        np.save(tmp / "offsets.npy", offsets_arr)
        np.save(tmp / "counts.npy", counts)
        meta = {"files": [str(f) for f in files], "tokenizer": str(tokenizer.name_or_path),
                "max_seq_len": max_seq_len, "dtype": dtype.name, "part": part, "heldout_every": heldout_every,
                "documents": n_docs,
                "sequences": len(offsets_arr) - 1,
                "tokens": int(offsets_arr[-1]), "vocab_size": len(tokenizer), "text_mb": n_bytes / 1e6,
                "prepare_s": time.perf_counter() - t0,
                "mb_per_s": n_bytes / 1e6 / max(time.perf_counter() - t0, 1e-9)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
        shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class LengthGroupedBatches:
    """Deterministic, resumable batch order (DistilBERT's ``group_by_size``).

    Each epoch shuffles sequence indices with ``seed + epoch``, cuts them into groups of
    ``batch_size * group_batches``, sorts each group by length so a batch holds similar lengths
    (little padding), and shuffles the batch order. ``state()`` / ``load_state()`` give the exact
    position (epoch, cursor) so a resumed run sees the same batches.

    Distributed: rank r of W takes global batches r, r + W, r + 2W, … (an epoch keeps a multiple of W
    batches), so W ranks with gradient accumulation A see per optimizer step exactly the batches one
    process with accumulation W·A sees. The state is stored as a global position, so a checkpoint
    resumes under another world size when W·A is unchanged.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, group_by_size: bool = True,
                 group_batches: int = 64, rank: int = 0, world_size: int = 1):
        self.lengths, self.batch_size, self.seed = lengths, batch_size, seed
        self.group_by_size, self.group_batches = group_by_size, group_batches
        self.rank, self.world_size = rank, world_size
        self.epoch, self.cursor = 0, 0
        self._order = self._make_order()

    def _make_order(self) -> list[np.ndarray]:
        rng = np.random.default_rng(self.seed + self.epoch)
        idx = rng.permutation(len(self.lengths))
        if self.group_by_size:
            g = self.batch_size * self.group_batches
            idx = np.concatenate([grp[np.argsort(self.lengths[grp], kind="stable")]
                                  for grp in np.array_split(idx, max(1, -(-len(idx) // g)))])
        batches = [idx[i:i + self.batch_size] for i in range(0, len(idx), self.batch_size)]
        order = rng.permutation(len(batches))
        batches = [batches[i] for i in order]
        keep = len(batches) - len(batches) % self.world_size if len(batches) >= self.world_size else len(batches)
        return batches[:keep][self.rank::self.world_size]

    def __len__(self) -> int:
        return len(self._order)

    def next(self) -> np.ndarray:
        if self.cursor >= len(self._order):
            self.epoch, self.cursor = self.epoch + 1, 0
            self._order = self._make_order()
        batch = self._order[self.cursor]
        self.cursor += 1
        return batch

    def global_index(self) -> int:
        """Index within its epoch of the batch last returned by next(), counted over all ranks."""
        return (self.cursor - 1) * self.world_size + self.rank

    def state(self) -> dict:
        return {"epoch": self.epoch, "global_cursor": self.cursor * self.world_size}

    def load_state(self, state: dict) -> None:
        """Restore a position saved by any world size; BertdistilError if it does not fall on this one's batches."""
        g = state.get("global_cursor", state.get("cursor", 0))
        if g % self.world_size:
            raise BertdistilError(f"checkpoint position {g} batches cannot be split over {self.world_size} processes: "
                                  "resume with a world size that divides it (keep world size × accumulation fixed)")
        self.epoch, self.cursor = state["epoch"], g // self.world_size
        self._order = self._make_order()


def collate(dataset: TokenDataset, indices: np.ndarray, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad a batch to its longest sequence. Returns input_ids (B, L) int64 and attention_mask (B, L) int64."""
    seqs = [dataset[int(i)] for i in indices]
    width = max(len(s) for s in seqs)
    ids = np.full((len(seqs), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), width), dtype=np.int64)
    for r, s in enumerate(seqs):
        ids[r, :len(s)] = s
        mask[r, :len(s)] = 1
    return torch.from_numpy(ids), torch.from_numpy(mask)
