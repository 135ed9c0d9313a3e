"""High-risk screening (issue 12): rule sets as data (:mod:`.rules`), and the records of
reviews, invitations, screenings, results and fee reductions."""

from healthmap.screening.rules import (CANNOT_ASSESS, NOT_TARGET, InputError, RuleSet,
                                       RuleSetError, assess, load_all, load_ruleset)

__all__ = ["CANNOT_ASSESS", "NOT_TARGET", "InputError", "RuleSet", "RuleSetError", "assess",
           "load_all", "load_ruleset"]
