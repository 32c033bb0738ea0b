; Jungfrau 4M (8 modules x 8 ASICs of 256 x 256, 75 um pixels)
; CrystFEL 0.10 syntax. The two half-detectors sit at different depths: the
; top-level coffset below is changed half-way, so it applies to modules 4-7 only.

clen = 0.1212
photon_energy = 12000
res = 13333.3333
adu_per_photon = 1
max_adu = 120000
data = /data/data
dim0 = %
dim1 = ss
dim2 = fs

m0a0/min_fs = 0
m0a0/max_fs = 255
m0a0/min_ss = 0
m0a0/max_ss = 255
m0a0/corner_x = -1036.00
m0a0/corner_y = 1053.00
m0a0/fs = +1.000000x +0.000488y +0.000000z
m0a0/ss = +0.000488x -1.000000y +0.000000z

m0a1/min_fs = 256
m0a1/max_fs = 511
m0a1/min_ss = 0
m0a1/max_ss = 255
m0a1/corner_x = -778.00
m0a1/corner_y = 1053.00
m0a1/fs = +1.000000x +0.000488y +0.000000z
m0a1/ss = +0.000488x -1.000000y +0.000000z

m0a2/min_fs = 512
m0a2/max_fs = 767
m0a2/min_ss = 0
m0a2/max_ss = 255
m0a2/corner_x = -520.00
m0a2/corner_y = 1053.00
m0a2/fs = +1.000000x +0.000488y +0.000000z
m0a2/ss = +0.000488x -1.000000y +0.000000z

m0a3/min_fs = 768
m0a3/max_fs = 1023
m0a3/min_ss = 0
m0a3/max_ss = 255
m0a3/corner_x = -262.00
m0a3/corner_y = 1053.00
m0a3/fs = +1.000000x +0.000488y +0.000000z
m0a3/ss = +0.000488x -1.000000y +0.000000z

m0a4/min_fs = 0
m0a4/max_fs = 255
m0a4/min_ss = 256
m0a4/max_ss = 511
m0a4/corner_x = -1036.00
m0a4/corner_y = 795.00
m0a4/fs = +1.000000x +0.000488y +0.000000z
m0a4/ss = +0.000488x -1.000000y +0.000000z

m0a5/min_fs = 256
m0a5/max_fs = 511
m0a5/min_ss = 256
m0a5/max_ss = 511
m0a5/corner_x = -778.00
m0a5/corner_y = 795.00
m0a5/fs = +1.000000x +0.000488y +0.000000z
m0a5/ss = +0.000488x -1.000000y +0.000000z

m0a6/min_fs = 512
m0a6/max_fs = 767
m0a6/min_ss = 256
m0a6/max_ss = 511
m0a6/corner_x = -520.00
m0a6/corner_y = 795.00
m0a6/fs = +1.000000x +0.000488y +0.000000z
m0a6/ss = +0.000488x -1.000000y +0.000000z

m0a7/min_fs = 768
m0a7/max_fs = 1023
m0a7/min_ss = 256
m0a7/max_ss = 511
m0a7/corner_x = -262.00
m0a7/corner_y = 795.00
m0a7/fs = +1.000000x +0.000488y +0.000000z
m0a7/ss = +0.000488x -1.000000y +0.000000z

m1a0/min_fs = 0
m1a0/max_fs = 255
m1a0/min_ss = 512
m1a0/max_ss = 767
m1a0/corner_x = 6.00
m1a0/corner_y = 1053.00
m1a0/fs = +1.000000x -0.000071y +0.000000z
m1a0/ss = -0.000071x -1.000000y +0.000000z

m1a1/min_fs = 256
m1a1/max_fs = 511
m1a1/min_ss = 512
m1a1/max_ss = 767
m1a1/corner_x = 264.00
m1a1/corner_y = 1053.00
m1a1/fs = +1.000000x -0.000071y +0.000000z
m1a1/ss = -0.000071x -1.000000y +0.000000z

m1a2/min_fs = 512
m1a2/max_fs = 767
m1a2/min_ss = 512
m1a2/max_ss = 767
m1a2/corner_x = 522.00
m1a2/corner_y = 1053.00
m1a2/fs = +1.000000x -0.000071y +0.000000z
m1a2/ss = -0.000071x -1.000000y +0.000000z

m1a3/min_fs = 768
m1a3/max_fs = 1023
m1a3/min_ss = 512
m1a3/max_ss = 767
m1a3/corner_x = 780.00
m1a3/corner_y = 1053.00
m1a3/fs = +1.000000x -0.000071y +0.000000z
m1a3/ss = -0.000071x -1.000000y +0.000000z

m1a4/min_fs = 0
m1a4/max_fs = 255
m1a4/min_ss = 768
m1a4/max_ss = 1023
m1a4/corner_x = 6.00
m1a4/corner_y = 795.00
m1a4/fs = +1.000000x -0.000071y +0.000000z
m1a4/ss = -0.000071x -1.000000y +0.000000z

m1a5/min_fs = 256
m1a5/max_fs = 511
m1a5/min_ss = 768
m1a5/max_ss = 1023
m1a5/corner_x = 264.00
m1a5/corner_y = 795.00
m1a5/fs = +1.000000x -0.000071y +0.000000z
m1a5/ss = -0.000071x -1.000000y +0.000000z

m1a6/min_fs = 512
m1a6/max_fs = 767
m1a6/min_ss = 768
m1a6/max_ss = 1023
m1a6/corner_x = 522.00
m1a6/corner_y = 795.00
m1a6/fs = +1.000000x -0.000071y +0.000000z
m1a6/ss = -0.000071x -1.000000y +0.000000z

m1a7/min_fs = 768
m1a7/max_fs = 1023
m1a7/min_ss = 768
m1a7/max_ss = 1023
m1a7/corner_x = 780.00
m1a7/corner_y = 795.00
m1a7/fs = +1.000000x -0.000071y +0.000000z
m1a7/ss = -0.000071x -1.000000y +0.000000z

m2a0/min_fs = 0
m2a0/max_fs = 255
m2a0/min_ss = 1024
m2a0/max_ss = 1279
m2a0/corner_x = -1036.00
m2a0/corner_y = 519.00
m2a0/fs = +1.000000x -0.000575y +0.000000z
m2a0/ss = -0.000575x -1.000000y +0.000000z

m2a1/min_fs = 256
m2a1/max_fs = 511
m2a1/min_ss = 1024
m2a1/max_ss = 1279
m2a1/corner_x = -778.00
m2a1/corner_y = 519.00
m2a1/fs = +1.000000x -0.000575y +0.000000z
m2a1/ss = -0.000575x -1.000000y +0.000000z

m2a2/min_fs = 512
m2a2/max_fs = 767
m2a2/min_ss = 1024
m2a2/max_ss = 1279
m2a2/corner_x = -520.00
m2a2/corner_y = 519.00
m2a2/fs = +1.000000x -0.000575y +0.000000z
m2a2/ss = -0.000575x -1.000000y +0.000000z

m2a3/min_fs = 768
m2a3/max_fs = 1023
m2a3/min_ss = 1024
m2a3/max_ss = 1279
m2a3/corner_x = -262.00
m2a3/corner_y = 519.00
m2a3/fs = +1.000000x -0.000575y +0.000000z
m2a3/ss = -0.000575x -1.000000y +0.000000z

m2a4/min_fs = 0
m2a4/max_fs = 255
m2a4/min_ss = 1280
m2a4/max_ss = 1535
m2a4/corner_x = -1036.00
m2a4/corner_y = 261.00
m2a4/fs = +1.000000x -0.000575y +0.000000z
m2a4/ss = -0.000575x -1.000000y +0.000000z

m2a5/min_fs = 256
m2a5/max_fs = 511
m2a5/min_ss = 1280
m2a5/max_ss = 1535
m2a5/corner_x = -778.00
m2a5/corner_y = 261.00
m2a5/fs = +1.000000x -0.000575y +0.000000z
m2a5/ss = -0.000575x -1.000000y +0.000000z

m2a6/min_fs = 512
m2a6/max_fs = 767
m2a6/min_ss = 1280
m2a6/max_ss = 1535
m2a6/corner_x = -520.00
m2a6/corner_y = 261.00
m2a6/fs = +1.000000x -0.000575y +0.000000z
m2a6/ss = -0.000575x -1.000000y +0.000000z

m2a7/min_fs = 768
m2a7/max_fs = 1023
m2a7/min_ss = 1280
m2a7/max_ss = 1535
m2a7/corner_x = -262.00
m2a7/corner_y = 261.00
m2a7/fs = +1.000000x -0.000575y +0.000000z
m2a7/ss = -0.000575x -1.000000y +0.000000z

m3a0/min_fs = 0
m3a0/max_fs = 255
m3a0/min_ss = 1536
m3a0/max_ss = 1791
m3a0/corner_x = 6.00
m3a0/corner_y = 519.00
m3a0/fs = +1.000000x +0.000633y +0.000000z
m3a0/ss = +0.000633x -1.000000y +0.000000z

m3a1/min_fs = 256
m3a1/max_fs = 511
m3a1/min_ss = 1536
m3a1/max_ss = 1791
m3a1/corner_x = 264.00
m3a1/corner_y = 519.00
m3a1/fs = +1.000000x +0.000633y +0.000000z
m3a1/ss = +0.000633x -1.000000y +0.000000z

m3a2/min_fs = 512
m3a2/max_fs = 767
m3a2/min_ss = 1536
m3a2/max_ss = 1791
m3a2/corner_x = 522.00
m3a2/corner_y = 519.00
m3a2/fs = +1.000000x +0.000633y +0.000000z
m3a2/ss = +0.000633x -1.000000y +0.000000z

m3a3/min_fs = 768
m3a3/max_fs = 1023
m3a3/min_ss = 1536
m3a3/max_ss = 1791
m3a3/corner_x = 780.00
m3a3/corner_y = 519.00
m3a3/fs = +1.000000x +0.000633y +0.000000z
m3a3/ss = +0.000633x -1.000000y +0.000000z

m3a4/min_fs = 0
m3a4/max_fs = 255
m3a4/min_ss = 1792
m3a4/max_ss = 2047
m3a4/corner_x = 6.00
m3a4/corner_y = 261.00
m3a4/fs = +1.000000x +0.000633y +0.000000z
m3a4/ss = +0.000633x -1.000000y +0.000000z

m3a5/min_fs = 256
m3a5/max_fs = 511
m3a5/min_ss = 1792
m3a5/max_ss = 2047
m3a5/corner_x = 264.00
m3a5/corner_y = 261.00
m3a5/fs = +1.000000x +0.000633y +0.000000z
m3a5/ss = +0.000633x -1.000000y +0.000000z

m3a6/min_fs = 512
m3a6/max_fs = 767
m3a6/min_ss = 1792
m3a6/max_ss = 2047
m3a6/corner_x = 522.00
m3a6/corner_y = 261.00
m3a6/fs = +1.000000x +0.000633y +0.000000z
m3a6/ss = +0.000633x -1.000000y +0.000000z

m3a7/min_fs = 768
m3a7/max_fs = 1023
m3a7/min_ss = 1792
m3a7/max_ss = 2047
m3a7/corner_x = 780.00
m3a7/corner_y = 261.00
m3a7/fs = +1.000000x +0.000633y +0.000000z
m3a7/ss = +0.000633x -1.000000y +0.000000z

coffset = 0.0005   ; lower half is 0.5 mm further from the sample

m4a0/min_fs = 0
m4a0/max_fs = 255
m4a0/min_ss = 2048
m4a0/max_ss = 2303
m4a0/corner_x = -1036.00
m4a0/corner_y = -15.00
m4a0/fs = +1.000000x -0.000796y +0.000000z
m4a0/ss = -0.000796x -1.000000y +0.000000z

m4a1/min_fs = 256
m4a1/max_fs = 511
m4a1/min_ss = 2048
m4a1/max_ss = 2303
m4a1/corner_x = -778.00
m4a1/corner_y = -15.00
m4a1/fs = +1.000000x -0.000796y +0.000000z
m4a1/ss = -0.000796x -1.000000y +0.000000z

m4a2/min_fs = 512
m4a2/max_fs = 767
m4a2/min_ss = 2048
m4a2/max_ss = 2303
m4a2/corner_x = -520.00
m4a2/corner_y = -15.00
m4a2/fs = +1.000000x -0.000796y +0.000000z
m4a2/ss = -0.000796x -1.000000y +0.000000z

m4a3/min_fs = 768
m4a3/max_fs = 1023
m4a3/min_ss = 2048
m4a3/max_ss = 2303
m4a3/corner_x = -262.00
m4a3/corner_y = -15.00
m4a3/fs = +1.000000x -0.000796y +0.000000z
m4a3/ss = -0.000796x -1.000000y +0.000000z

m4a4/min_fs = 0
m4a4/max_fs = 255
m4a4/min_ss = 2304
m4a4/max_ss = 2559
m4a4/corner_x = -1036.00
m4a4/corner_y = -273.00
m4a4/fs = +1.000000x -0.000796y +0.000000z
m4a4/ss = -0.000796x -1.000000y +0.000000z

m4a5/min_fs = 256
m4a5/max_fs = 511
m4a5/min_ss = 2304
m4a5/max_ss = 2559
m4a5/corner_x = -778.00
m4a5/corner_y = -273.00
m4a5/fs = +1.000000x -0.000796y +0.000000z
m4a5/ss = -0.000796x -1.000000y +0.000000z

m4a6/min_fs = 512
m4a6/max_fs = 767
m4a6/min_ss = 2304
m4a6/max_ss = 2559
m4a6/corner_x = -520.00
m4a6/corner_y = -273.00
m4a6/fs = +1.000000x -0.000796y +0.000000z
m4a6/ss = -0.000796x -1.000000y +0.000000z

m4a7/min_fs = 768
m4a7/max_fs = 1023
m4a7/min_ss = 2304
m4a7/max_ss = 2559
m4a7/corner_x = -262.00
m4a7/corner_y = -273.00
m4a7/fs = +1.000000x -0.000796y +0.000000z
m4a7/ss = -0.000796x -1.000000y +0.000000z

m5a0/min_fs = 0
m5a0/max_fs = 255
m5a0/min_ss = 2560
m5a0/max_ss = 2815
m5a0/corner_x = 6.00
m5a0/corner_y = -15.00
m5a0/fs = +1.000000x -0.000192y +0.000000z
m5a0/ss = -0.000192x -1.000000y +0.000000z

m5a1/min_fs = 256
m5a1/max_fs = 511
m5a1/min_ss = 2560
m5a1/max_ss = 2815
m5a1/corner_x = 264.00
m5a1/corner_y = -15.00
m5a1/fs = +1.000000x -0.000192y +0.000000z
m5a1/ss = -0.000192x -1.000000y +0.000000z

m5a2/min_fs = 512
m5a2/max_fs = 767
m5a2/min_ss = 2560
m5a2/max_ss = 2815
m5a2/corner_x = 522.00
m5a2/corner_y = -15.00
m5a2/fs = +1.000000x -0.000192y +0.000000z
m5a2/ss = -0.000192x -1.000000y +0.000000z

m5a3/min_fs = 768
m5a3/max_fs = 1023
m5a3/min_ss = 2560
m5a3/max_ss = 2815
m5a3/corner_x = 780.00
m5a3/corner_y = -15.00
m5a3/fs = +1.000000x -0.000192y +0.000000z
m5a3/ss = -0.000192x -1.000000y +0.000000z

m5a4/min_fs = 0
m5a4/max_fs = 255
m5a4/min_ss = 2816
m5a4/max_ss = 3071
m5a4/corner_x = 6.00
m5a4/corner_y = -273.00
m5a4/fs = +1.000000x -0.000192y +0.000000z
m5a4/ss = -0.000192x -1.000000y +0.000000z

m5a5/min_fs = 256
m5a5/max_fs = 511
m5a5/min_ss = 2816
m5a5/max_ss = 3071
m5a5/corner_x = 264.00
m5a5/corner_y = -273.00
m5a5/fs = +1.000000x -0.000192y +0.000000z
m5a5/ss = -0.000192x -1.000000y +0.000000z

m5a6/min_fs = 512
m5a6/max_fs = 767
m5a6/min_ss = 2816
m5a6/max_ss = 3071
m5a6/corner_x = 522.00
m5a6/corner_y = -273.00
m5a6/fs = +1.000000x -0.000192y +0.000000z
m5a6/ss = -0.000192x -1.000000y +0.000000z

m5a7/min_fs = 768
m5a7/max_fs = 1023
m5a7/min_ss = 2816
m5a7/max_ss = 3071
m5a7/corner_x = 780.00
m5a7/corner_y = -273.00
m5a7/fs = +1.000000x -0.000192y +0.000000z
m5a7/ss = -0.000192x -1.000000y +0.000000z

m6a0/min_fs = 0
m6a0/max_fs = 255
m6a0/min_ss = 3072
m6a0/max_ss = 3327
m6a0/corner_x = -1036.00
m6a0/corner_y = -549.00
m6a0/fs = +1.000000x +0.000046y +0.000000z
m6a0/ss = +0.000046x -1.000000y +0.000000z

m6a1/min_fs = 256
m6a1/max_fs = 511
m6a1/min_ss = 3072
m6a1/max_ss = 3327
m6a1/corner_x = -778.00
m6a1/corner_y = -549.00
m6a1/fs = +1.000000x +0.000046y +0.000000z
m6a1/ss = +0.000046x -1.000000y +0.000000z

m6a2/min_fs = 512
m6a2/max_fs = 767
m6a2/min_ss = 3072
m6a2/max_ss = 3327
m6a2/corner_x = -520.00
m6a2/corner_y = -549.00
m6a2/fs = +1.000000x +0.000046y +0.000000z
m6a2/ss = +0.000046x -1.000000y +0.000000z

m6a3/min_fs = 768
m6a3/max_fs = 1023
m6a3/min_ss = 3072
m6a3/max_ss = 3327
m6a3/corner_x = -262.00
m6a3/corner_y = -549.00
m6a3/fs = +1.000000x +0.000046y +0.000000z
m6a3/ss = +0.000046x -1.000000y +0.000000z

m6a4/min_fs = 0
m6a4/max_fs = 255
m6a4/min_ss = 3328
m6a4/max_ss = 3583
m6a4/corner_x = -1036.00
m6a4/corner_y = -807.00
m6a4/fs = +1.000000x +0.000046y +0.000000z
m6a4/ss = +0.000046x -1.000000y +0.000000z

m6a5/min_fs = 256
m6a5/max_fs = 511
m6a5/min_ss = 3328
m6a5/max_ss = 3583
m6a5/corner_x = -778.00
m6a5/corner_y = -807.00
m6a5/fs = +1.000000x +0.000046y +0.000000z
m6a5/ss = +0.000046x -1.000000y +0.000000z

m6a6/min_fs = 512
m6a6/max_fs = 767
m6a6/min_ss = 3328
m6a6/max_ss = 3583
m6a6/corner_x = -520.00
m6a6/corner_y = -807.00
m6a6/fs = +1.000000x +0.000046y +0.000000z
m6a6/ss = +0.000046x -1.000000y +0.000000z

m6a7/min_fs = 768
m6a7/max_fs = 1023
m6a7/min_ss = 3328
m6a7/max_ss = 3583
m6a7/corner_x = -262.00
m6a7/corner_y = -807.00
m6a7/fs = +1.000000x +0.000046y +0.000000z
m6a7/ss = +0.000046x -1.000000y +0.000000z

m7a0/min_fs = 0
m7a0/max_fs = 255
m7a0/min_ss = 3584
m7a0/max_ss = 3839
m7a0/corner_x = 6.00
m7a0/corner_y = -549.00
m7a0/fs = +1.000000x -0.000353y +0.000000z
m7a0/ss = -0.000353x -1.000000y +0.000000z

m7a1/min_fs = 256
m7a1/max_fs = 511
m7a1/min_ss = 3584
m7a1/max_ss = 3839
m7a1/corner_x = 264.00
m7a1/corner_y = -549.00
m7a1/fs = +1.000000x -0.000353y +0.000000z
m7a1/ss = -0.000353x -1.000000y +0.000000z

m7a2/min_fs = 512
m7a2/max_fs = 767
m7a2/min_ss = 3584
m7a2/max_ss = 3839
m7a2/corner_x = 522.00
m7a2/corner_y = -549.00
m7a2/fs = +1.000000x -0.000353y +0.000000z
m7a2/ss = -0.000353x -1.000000y +0.000000z

m7a3/min_fs = 768
m7a3/max_fs = 1023
m7a3/min_ss = 3584
m7a3/max_ss = 3839
m7a3/corner_x = 780.00
m7a3/corner_y = -549.00
m7a3/fs = +1.000000x -0.000353y +0.000000z
m7a3/ss = -0.000353x -1.000000y +0.000000z

m7a4/min_fs = 0
m7a4/max_fs = 255
m7a4/min_ss = 3840
m7a4/max_ss = 4095
m7a4/corner_x = 6.00
m7a4/corner_y = -807.00
m7a4/fs = +1.000000x -0.000353y +0.000000z
m7a4/ss = -0.000353x -1.000000y +0.000000z

m7a5/min_fs = 256
m7a5/max_fs = 511
m7a5/min_ss = 3840
m7a5/max_ss = 4095
m7a5/corner_x = 264.00
m7a5/corner_y = -807.00
m7a5/fs = +1.000000x -0.000353y +0.000000z
m7a5/ss = -0.000353x -1.000000y +0.000000z

m7a6/min_fs = 512
m7a6/max_fs = 767
m7a6/min_ss = 3840
m7a6/max_ss = 4095
m7a6/corner_x = 522.00
m7a6/corner_y = -807.00
m7a6/fs = +1.000000x -0.000353y +0.000000z
m7a6/ss = -0.000353x -1.000000y +0.000000z

m7a7/min_fs = 768
m7a7/max_fs = 1023
m7a7/min_ss = 3840
m7a7/max_ss = 4095
m7a7/corner_x = 780.00
m7a7/corner_y = -807.00
m7a7/fs = +1.000000x -0.000353y +0.000000z
m7a7/ss = -0.000353x -1.000000y +0.000000z

group_m0 = m0a0,m0a1,m0a2,m0a3,m0a4,m0a5,m0a6,m0a7
group_m1 = m1a0,m1a1,m1a2,m1a3,m1a4,m1a5,m1a6,m1a7
group_m2 = m2a0,m2a1,m2a2,m2a3,m2a4,m2a5,m2a6,m2a7
group_m3 = m3a0,m3a1,m3a2,m3a3,m3a4,m3a5,m3a6,m3a7
group_m4 = m4a0,m4a1,m4a2,m4a3,m4a4,m4a5,m4a6,m4a7
group_m5 = m5a0,m5a1,m5a2,m5a3,m5a4,m5a5,m5a6,m5a7
group_m6 = m6a0,m6a1,m6a2,m6a3,m6a4,m6a5,m6a6,m6a7
group_m7 = m7a0,m7a1,m7a2,m7a3,m7a4,m7a5,m7a6,m7a7
group_all = m0,m1,m2,m3,m4,m5,m6,m7

bad_m2a5/panel = m2a5
bad_m2a5/min_fs = 256
bad_m2a5/max_fs = 511
bad_m2a5/min_ss = 1280
bad_m2a5/max_ss = 1535

