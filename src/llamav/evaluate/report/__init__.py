"""Renderers of RunResults: the terminal (`console`), report.md (`markdown`), report.html (`html`),
and the leaderboard of several runs (`leaderboard`, with `compare`'s paired test and baselines).
Every figure is printed through `format`, so it reads the same in each."""
