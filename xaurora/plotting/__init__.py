"""Plot implementations behind :mod:`xaurora.plot` (maps in ``maps``, charts in ``charts``)."""
