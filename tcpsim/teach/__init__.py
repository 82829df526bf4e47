"""Teaching: why each step happened (explain), and predicting the next one (quiz)."""

from .explain import Why, explain

__all__ = ["Why", "explain"]
