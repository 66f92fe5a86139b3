"""Learn mode: from one recorded run to the minimal promises, unveil list and command."""
