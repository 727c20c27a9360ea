"""TextWorld games (custom quests and tw-cooking recipes), generated locally and cached."""
