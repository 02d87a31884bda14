"""Asterisk Manager Interface: the sans-I/O codec (``codec``) and the Twisted client
(``protocol``). Nothing is imported here, so the codec stays free of Twisted."""
