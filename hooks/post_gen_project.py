"""The post-generation hook: cookiecutter renders this file (its one Jinja line) and
runs it inside the generated project. The work is in post_generation.py beside it,
plain Python that Jinja never renders; cookiecutter runs only files named for a hook.
"""

import os
import sys

# Cookiecutter writes this script to its temp folder, which Python puts first on the
# import path: nothing there is the hook's (a stray json.py would shadow the
# standard library), and listing a crowded temp folder costs more than the work.
# (os and sys are loaded with Python itself, so importing them searches nothing.)
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(  # noqa: PTH100, PTH120
    os.path.abspath(__file__)  # noqa: PTH100
):
    del sys.path[0]

import json

given = json.loads(r"""{{ cookiecutter | post_generation_input | tojson }}""")
sys.path.insert(0, os.path.join(given["template"], "hooks"))  # noqa: PTH118

from post_generation import main

sys.exit(main(given))
