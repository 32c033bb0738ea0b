; Pilatus 6M (2463 x 2527 pixels of 172 um), converted from CBF with the
; header beam centre (1231.5, 1263.5) px. Old-style per-panel clen.

photon_energy = 12660

panel0/min_fs = 0
panel0/max_fs = 2462
panel0/min_ss = 0
panel0/max_ss = 2526
panel0/corner_x = -1231.5
panel0/corner_y = -1263.5
panel0/fs = +1.0x
panel0/ss = +1.0y
panel0/res = 5813.953488
panel0/clen = 0.30012
panel0/adu_per_photon = 1
panel0/max_adu = 1048500
panel0/data = /data/data
panel0/dim0 = %
panel0/dim1 = ss
panel0/dim2 = fs

; beam stop (lab pixels)
bad_bs/min_x = -30
bad_bs/max_x = 30
bad_bs/min_y = -1263.5
bad_bs/max_y = 25

