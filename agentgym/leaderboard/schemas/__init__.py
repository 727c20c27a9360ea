"""The packaged JSON Schemas (draft 2020-12) of results.json and leaderboard.json."""
