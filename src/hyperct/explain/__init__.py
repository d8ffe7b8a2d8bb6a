"""Explanations: Grad-CAM saliency of one task mapped back to the original CT grid."""
