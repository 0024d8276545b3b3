"""Skipping bad samples, only when asked (`datasets.<split>.on_bad_sample: skip`): a sample
whose loading fails with an InputError becomes a BadSample, which the collate function takes
out of the batch and hands on by name, so the trainer can count it, list it and stop when too
many are bad."""
from dataclasses import dataclass

from torch.utils.data import Dataset

from packnet_sfm.datasets.collate import collate
from packnet_sfm.utils.errors import InputError, user_message

ON_BAD_SAMPLE = ('error', 'skip')


@dataclass(frozen=True)
class BadSample:
    index: int          # in the dataset
    message: str        # what is wrong, naming the file


class SkipBadSamples(Dataset):
    """`dataset` whose failing samples come back as BadSample instead of raising."""

    def __init__(self, dataset):
        self.dataset = dataset

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        try:
            return self.dataset[index]
        except InputError as error:
            return BadSample(index, ' '.join(user_message(error).split()))


def collate_skipping(samples):
    """The batch of the good samples, plus 'bad_samples' (the BadSamples) and 'kept' (the
    positions in the batch of the good ones)."""
    kept = [i for i, sample in enumerate(samples) if not isinstance(sample, BadSample)]
    batch = collate([samples[i] for i in kept]) if kept else {}
    batch['bad_samples'] = [sample for sample in samples if isinstance(sample, BadSample)]
    batch['kept'] = kept
    return batch
