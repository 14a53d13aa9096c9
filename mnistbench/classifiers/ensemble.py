"""Ensembles: other adapters fitted together and combined by soft or majority vote.

The two votes are also what ``mnistbench ensemble RUN_DIR`` applies to a finished run's stored
probabilities (:mod:`mnistbench.run.combine`), so both ways in give the same answer.
"""

import numpy as np

from mnistbench.classifiers.base import DigitClassifier, check_choice
from mnistbench.errors import ParameterError


def soft_vote(probabilities):
    """The mean of the members' class probabilities (a sequence of N x classes arrays)."""
    return np.mean(np.asarray(probabilities, dtype=np.float64), axis=0)


def majority_vote(probabilities):
    """Each member votes for its most probable class; a class's probability is its share of
    the votes.

    Ties between classes with the same number of votes go to the first of them in class order
    (the arg-max of the shares), as in scikit-learn's ``VotingClassifier(voting="hard")``; an
    odd number of members avoids most of them.
    """
    probabilities = np.asarray(probabilities)
    n_members, n_rows, n_classes = probabilities.shape
    votes = probabilities.argmax(axis=2)
    counts = np.zeros((n_rows, n_classes))
    for member_votes in votes:
        counts[np.arange(n_rows), member_votes] += 1
    return counts / n_members


VOTES = {"soft": soft_vote, "majority": majority_vote}


class Ensemble(DigitClassifier):
    """Vote of other algorithms fitted together (classic table, 35 convnets' committee: 99.77%).

    Parameters
    ----------
    members : sequence
        Algorithm names, or ``(name, {parameter: value})`` pairs, e.g.
        ``("svm", "knn", ("mlp", {"epochs": 20}))``. A name may repeat with other parameters.
    voting : {"soft", "majority"}
        ``soft`` averages the members' probabilities; ``majority`` counts their predicted
        classes (see :func:`majority_vote` for ties).
    random_state : int, optional
        The i-th member (from 0) that has a ``random_state`` gets ``random_state + i``, so that
        ``("cnn", "cnn", "cnn")`` is three networks trained from three seeds.
    """

    def __init__(self, members=("svm", "knn", "mlp"), voting="soft", random_state=None,
                 augment="none"):
        self.members = members
        self.voting = voting
        self.random_state = random_state
        self.augment = augment

    def check_params(self):
        check_choice("voting", self.voting, tuple(VOTES))
        self._member_classifiers()

    def _member_classifiers(self):
        """The members, built and checked: ``[(name, classifier), ...]``."""
        from mnistbench.classifiers.registry import get_classifier

        if isinstance(self.members, str) or not isinstance(self.members, (list, tuple)) \
                or not self.members:
            raise ParameterError(f"members must be a list of algorithm names, got "
                                 f"{self.members!r}")
        built = []
        for index, member in enumerate(self.members):
            name, params = (member, {}) if isinstance(member, str) else (
                member if isinstance(member, (list, tuple)) and len(member) == 2 else (None, None))
            if not isinstance(name, str) or not isinstance(params, dict):
                raise ParameterError(f"each member must be an algorithm name or a (name, "
                                     f"{{parameter: value}}) pair, got {member!r}")
            classifier = get_classifier(name, **params)
            if self.random_state is not None and "random_state" in classifier.get_params():
                classifier.set_params(random_state=(self.random_state + index) % 2**32)
            built.append((name, classifier))
        return built

    def import_backend(self):
        for _, classifier in self._member_classifiers():
            classifier.import_backend()

    def _fit(self, X, y):
        members = self._member_classifiers()
        self.members_ = [classifier.fit(X, y) for _, classifier in members]
        self.chosen_params_ = {}
        for (name, member), copy in zip(members, range(1, len(members) + 1)):
            key = name if name not in self.chosen_params_ else f"{name}#{copy}"
            self.chosen_params_[key] = getattr(member, "chosen_params_", {})
        self.log_seconds_ = sum(getattr(member, "log_seconds_", 0.0) for member in self.members_)

    def _predict_proba(self, X):
        return VOTES[self.voting]([member.predict_proba(X) for member in self.members_])
