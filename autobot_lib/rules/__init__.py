"""Rules as data (conditions over feature columns), their aggregation, and the default AUTOBOT rule set."""

from autobot_lib.rules.defaults import DEFAULT_RULES
from autobot_lib.rules.expr import Condition, ConditionError, compile_condition
from autobot_lib.rules.rule import ALL_REGIMES, Category, Rule, RuleEvaluation, RuleSet

__all__ = ["Rule", "RuleSet", "RuleEvaluation", "Category", "ALL_REGIMES", "DEFAULT_RULES", "Condition",
           "ConditionError", "compile_condition"]
