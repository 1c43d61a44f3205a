"""机构债权（P2B / 债权转让模式）: claims a partner institution originated outside the platform,
offered to investors through the debt-transfer market."""
