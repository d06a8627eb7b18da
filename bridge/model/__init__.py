"""Pure values shared by every layer: GitLab records, changes and the store's ledger rows.

No I/O and no adapter imports: ``records`` is what the GitLab source yields and the store keeps,
``changes`` what the differ finds (with the one function that names a subject), ``ledger`` the
bookkeeping rows of the outbox, delivery attempts, circuits and polls.

Pure: changes, ledger, records, signals
"""
