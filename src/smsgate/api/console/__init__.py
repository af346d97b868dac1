"""The operator's console at ``/admin``: server-rendered pages behind admin credentials.

``routes.install(app)`` adds it to the application. Every page is rendered with Jinja2
(autoescaped) under a strict Content-Security-Policy; every form is checked against a CSRF
token and answered with a redirect and a flash message (see ``forms.py``).
"""
