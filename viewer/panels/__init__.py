"""The window's panels: each draws one view of the live episode into its rectangle (see `viewer.app`)."""
