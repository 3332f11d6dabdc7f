"""One module per DVC stage; each is that stage's ``cmd`` (``python -m stages.<name>``)."""
