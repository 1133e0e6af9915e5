"""The learned answer core: candidates, features, models, decisions and checks of fact answers."""
