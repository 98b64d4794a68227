"""Campaign actors: the worker (plain class) and the Ray supervisor that hosts it."""
