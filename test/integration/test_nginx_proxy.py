"""deploy/nginx.conf in front of a real Herald, checked with a real nginx.

The server block of deploy/nginx.conf is used as is, except that the upstream
points at the test Herald and it listens on a free loopback port.  Needs
Debian's nginx-light (/usr/sbin/nginx; scripts/install-deps.sh installs it):
without it the test fails rather than skips.  The checks themselves are
proxy_fixture.ProxiedStreamChecks, shared with test_proxy_configs.py."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proxy_fixture import REPO, ProxiedStreamChecks, ProxyProcess, substitute  # noqa: E402

DEPLOY_CONF = os.path.join(REPO, "deploy", "nginx.conf")


def proxied_config(deploy_text, herald_port, nginx_port, tmp):
    """The main nginx.conf: deploy/nginx.conf inside an http block, with every
    path nginx writes to under tmp."""
    text = substitute(deploy_text, r"server\s+herald:8080\s*;", "server 127.0.0.1:%d;" % herald_port, DEPLOY_CONF)
    text = substitute(text, r"listen\s+80\s*;", "listen 127.0.0.1:%d;" % nginx_port, DEPLOY_CONF)
    temp_paths = "\n".join("    %s_temp_path %s;" % (kind, os.path.join(tmp, kind))
                           for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return """daemon off;
master_process off;
worker_processes 1;
pid %(tmp)s/nginx.pid;
error_log stderr info;
events {
    worker_connections 256;
}
http {
    access_log off;
%(temp_paths)s
%(deploy)s
}
""" % {"tmp": tmp, "temp_paths": temp_paths, "deploy": text}


class Nginx(ProxyProcess):
    name = "nginx"
    binary_env = "NGINX_BIN"
    binary = os.environ.get(binary_env, "/usr/sbin/nginx")
    install_hint = "Debian's nginx-light"

    def files(self, port):
        with open(DEPLOY_CONF) as f:
            return {"nginx.conf": proxied_config(f.read(), self.herald_port, port, self.tmp)}

    def command(self):
        return [self.binary, "-p", self.tmp, "-c", self.path("nginx.conf"), "-e", "stderr"]


class NginxProxy(ProxiedStreamChecks, unittest.TestCase):
    PROXY = Nginx


if __name__ == "__main__":
    unittest.main()
