"""The service layer: every write the product makes goes through here.

The admin, the management commands and the django-q2 tasks are thin interfaces over these
functions (HackSoftware style: keyword-only, named `<entity>_<action>`).
"""
