"""Offline stand-in for ansible-test's pip bootstrap script (get-pip.py).

ansible-test downloads get-pip.py from a CI file server this network cannot
reach. This script gives the fresh venv the pip that ships with Python
(ensurepip), then lets that pip install what ansible-test asked for (for
example ``pip==24.2``) from the package index, as get-pip.py would.
"""

import subprocess
import sys

# get-pip.py's own options; pip itself does not know them.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

# In a child process: ensurepip hides pip's configuration (PIP_CONFIG_FILE)
# from everything that runs after it in the same process.
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
