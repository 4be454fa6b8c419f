"""The points mall (积分商城, 区域产品兑换): merchants' regional products redeemed with points."""
