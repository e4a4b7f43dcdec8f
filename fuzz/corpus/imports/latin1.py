# -*- coding: latin-1 -*-
import café
from ÿþ import x
name = "été"
