"""The lab's services: each one a real server in its own process."""
