"""The checker's own tests: the shipped Swift of ios/ passes against the generated bindings,
and each seeded fault (fixtures/) fails with its file:line and what is wrong; the checks' rules
on a small generated API of their own."""
