"""Authoring a benchmark: draft reasoning chains with a model, propose categories, review them in
the browser, export a VRC-Bench parquet file (`llamav author`).

A project is a folder holding one SQLite file (`project.Project`); every draft, label and review
edit is a row committed as it is made.
"""

from llamav.author.agreement import agreement, cohen_kappa
from llamav.author.categorize import categorize_project, read_category
from llamav.author.draft import check_draft, draft_project, draft_prompt
from llamav.author.export import export_project, reviewed_samples
from llamav.author.init import init_project, read_categories
from llamav.author.project import Draft, Project, ProjectError, ReviewState

__all__ = [
    "Draft",
    "Project",
    "ProjectError",
    "ReviewState",
    "agreement",
    "categorize_project",
    "check_draft",
    "cohen_kappa",
    "draft_project",
    "draft_prompt",
    "export_project",
    "init_project",
    "read_categories",
    "read_category",
    "reviewed_samples",
]
